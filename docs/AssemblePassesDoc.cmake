# docs/Passes.md = a header, the generated pass pages (transforms, then conversions), and the
# schedule options printed by linrec-schedule-doc.
file(READ ${HEADER} header)
file(READ ${TRANSFORMS} transforms)
file(READ ${CONVERSION} conversion)
execute_process(COMMAND ${SCHEDULE_DOC} OUTPUT_VARIABLE schedule RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "linrec-schedule-doc failed")
endif()
file(WRITE ${OUTPUT} "${header}\n## Transforms\n\n${transforms}\n## Conversions\n\n${conversion}\n${schedule}")
